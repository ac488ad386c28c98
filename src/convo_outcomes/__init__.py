"""convo-outcomes: contact-center conversations in, calibrated outcome signals and money out."""

__version__ = "0.1.0"
