"""Activities: what people did (page views, downloads, webinars), each a lead.activity."""
