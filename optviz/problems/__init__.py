"""Problems the course optimises: 2-D toys, stochastic finite sums, games, a toy group-DRO problem."""
