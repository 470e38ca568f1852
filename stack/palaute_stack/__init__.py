"""palaute_stack."""
