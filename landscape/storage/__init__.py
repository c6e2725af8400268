"""The files landscape writes and reads, and nothing that computes what goes in them.

Belongs here: the HDF5 surface format (``io``, with ``h5attrs`` for its attributes), path files of
``landscape connect`` (``pathfile``), checkpoints (``checkpoint``) and run directories
(``rundir``: config, history, snapshots, the resumable training state). Each module knows one
format, its name and version, and reads old versions. Does not belong here: evaluating a model
(``core``), training (``training``), drawing (``plot``; a ``Surface`` shows itself by handing its
arrays down to ``plot``).
"""
