"""spinemets: per-vertebra fracture-risk assessment from CT of metastatic spines.

Research software. Not a medical device: results must not be used for diagnosis or treatment.
"""

__version__ = "0.1.0"

DISCLAIMER = (
    "spinemets is research software and not a medical device. Its results are not validated "
    "for clinical use and must not be used for diagnosis or treatment decisions."
)

__all__ = ["__version__", "DISCLAIMER"]
