"""A study as data: a config of variables and members, the pipeline that runs it, its report.

Belongs here: the config sections (``specs``) and the whole config (``config``), the extension
points (``registry``: measures, figure makers/drawers, report sections, plug-ins), the members a
config expands into (``members``; replicates over training seeds and their spread: ``replicates``),
the one vocabulary of judged claims (``verdicts``) and the claims judged with it (``claims``), the
report's columns and sections (``columns``, ``report``),
the stages (``pipeline/``), the chapter's studies (``chapter/``), the packaged TOML configs
(``configs/``) and the runner (``experiment``). A new study is a config plus, where it needs them,
registered measures, figures and sections. Does not belong here: how a number is computed
(``analysis``, ``core``) or drawn (``plot``), or command-line parsing (``commands``).
"""
