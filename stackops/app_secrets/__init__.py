"""The application's secrets: the catalogue (`secrets.yaml`) and what the tool does with it.

catalogue.py  the entries, validated; which services a secret may feed; random values
sync.py       create what an environment lacks, rotate the rotatable ones; never a value in a report
report.py     the table `inv secrets` ends with
command.py    `inv secrets`: sync, then roll the services that consume a rotated secret
"""
