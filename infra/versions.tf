terraform {
  required_version = ">= 1.5, < 2.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.50, < 7.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4, < 3.0"
    }
  }

  # State lives in a GCS bucket named at init time (partial configuration), e.g.
  #   terraform init -backend-config="bucket=STATE_BUCKET" -backend-config="prefix=jobcourier"
  backend "gcs" {}
}
