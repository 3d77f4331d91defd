"""GDPR: erasing a person everywhere and exporting what every service holds about them."""
