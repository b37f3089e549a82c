"""`cxone-router bench`: how fast the edge and the pipeline are, measured on real parts."""
