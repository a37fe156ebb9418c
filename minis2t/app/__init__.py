"""The application on top: ``pipeline`` (``Speech2Text``), ``longform`` (recordings of any
length), ``timing`` (word times from cross-attention), ``formats`` (text, JSON, SRT, VTT,
TSV), ``corpus`` (a manifest on a Dask cluster) and ``cli`` (the ``minis2t`` command)."""
