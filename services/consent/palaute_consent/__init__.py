"""palaute_consent."""
