"""openvclip: Open-VCLIP (Weng et al., ICML 2023) as a reproducible, workflow-orchestrated pipeline."""

__version__ = "0.1.0"
