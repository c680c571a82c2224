"""PostgreSQL-backed stand-in for CKAN's Solr search index."""
