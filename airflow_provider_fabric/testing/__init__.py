"""Test and demo helpers: synthetic data with no PHI (see :mod:`.vcfgen`)."""
