"""What the commune keeps and how: the directory of places, agencies and officials; statistics;
retention (anonymising closed cases); rotating the keys of encrypted columns."""
