"""palaute_sandbox."""
