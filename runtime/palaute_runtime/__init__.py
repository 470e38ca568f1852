"""palaute_runtime."""
