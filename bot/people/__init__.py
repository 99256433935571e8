"""The people directory: team leaders, and whether a worker is in today."""
