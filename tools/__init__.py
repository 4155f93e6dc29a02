"""Tools around the product, not part of it: the synthetic landing-data generator (`funnel generate`)."""
