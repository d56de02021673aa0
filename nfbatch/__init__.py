"""nfbatch: submit, watch, diagnose and tidy Nextflow runs on a deployed genomics-batch stack."""
