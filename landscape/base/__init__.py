"""What every layer may use, and nothing that knows about models, files of ours or figures.

Belongs here: errors and the one-line checks of user input (``errors``), atomic writes
(``atomic``), file locks (``flock``, ``joblock``), progress bars (``progress``), optional
dependencies with their install hint (``extras``). Does not belong here: anything that imports
torch models, HDF5 formats or matplotlib figures — those have layers of their own above this one.
"""
