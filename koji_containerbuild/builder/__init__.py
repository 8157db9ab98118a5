"""The builder side: a container build task on kojid, from checks to import."""
