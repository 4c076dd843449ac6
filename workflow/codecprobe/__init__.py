"""codecprobe: layer-wise semantic and phonetic probing of speech codecs.

One module per workflow stage; each runs without Snakemake (``python -m codecprobe.<stage>``).
"""

__version__ = "0.1.0"
