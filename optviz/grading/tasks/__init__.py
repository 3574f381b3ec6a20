"""Public specs of the course's graded exercises, one module ``exNN_K`` per exercise notebook.

Each module defines ``EXERCISE`` (:class:`optviz.grading.spec.Exercise`): reference
implementations (torch / optviz), drivers, public checks and figures. Hidden checks are not here:
they live beside the solutions, in ``solutions/hidden/``. See ``solutions/README.md``.
"""
