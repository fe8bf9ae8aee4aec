"""`daka bench`: measurements printed as JSON, each beside a baseline measured in the same run."""
