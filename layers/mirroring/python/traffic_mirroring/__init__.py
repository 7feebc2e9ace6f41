"""Domain of the VPC Traffic Mirroring automation: plan and apply mirror sessions for tagged instances."""
