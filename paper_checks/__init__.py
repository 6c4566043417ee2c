"""Claims of the papers, the statistics that judge them, and the command line."""
