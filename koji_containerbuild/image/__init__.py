"""What a checkout says about its image: Dockerfile, labels, files, tags."""
