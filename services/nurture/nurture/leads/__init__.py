"""What nurture knows of each lead and its enrollments: events become changes, decided a
batch at a time and written set-based."""
