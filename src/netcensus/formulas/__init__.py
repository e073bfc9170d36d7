"""Analytic formulas for modules: parameter counts, output shapes, and input diagnostics."""
