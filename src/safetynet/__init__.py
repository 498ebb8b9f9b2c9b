"""SafetyNet: registry, screening, case work and safety-net programmes for rural households."""

__version__ = "0.1.0"
