"""palaute_collector."""
