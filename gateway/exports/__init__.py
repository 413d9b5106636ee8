"""The incident record in the forms other systems and courts read: PIDF-LO, EIDO, GeoJSON, bundles."""
