"""Synthetic demo region: area tree, registry, incomes and department feeds (deterministic by seed).

Entry point: `safetynet.demo.generator.generate_region`; `safetynet.demo.services.demo_setup`
generates into the data folder and imports areas and registry.
"""
