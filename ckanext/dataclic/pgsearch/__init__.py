"""PostgreSQL stand-in for CKAN's Solr search index (plugin ``dataclic_pgsearch``)."""
