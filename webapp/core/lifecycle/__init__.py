"""The run and delivery state machine: the only code that changes a run's or a delivery's state.

The names of the states and their sets are in webapp/core/states.py; `runs` holds the run's
transitions and `deliveries` the delivery's. Everything else reads states and calls these.
"""
