"""Demo data for a fresh machine: generated motor-insurance claims and the loader that stores them."""
