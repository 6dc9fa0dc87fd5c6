"""Reference data (real units and procedures) and the demo data set."""
