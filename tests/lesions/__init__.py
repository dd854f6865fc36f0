"""Small CTs with known lesions (balls of chosen size and density), their masks and cohorts, on disk."""
