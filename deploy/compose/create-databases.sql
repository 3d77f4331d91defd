-- Run once by the postgres image on an empty data directory: one database per service, since
-- each service owns its data and reaches another's only through events.
CREATE DATABASE capture;
CREATE DATABASE scoring;
CREATE DATABASE handoff;
CREATE DATABASE nurture;
CREATE DATABASE outcomes;
