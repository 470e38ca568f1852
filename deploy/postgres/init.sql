-- Each service owns its own database; no service reads another's tables.
CREATE DATABASE palaute_consent;
CREATE DATABASE palaute_dispatcher;
CREATE DATABASE palaute_collector;
