"""palaute_dispatcher."""
