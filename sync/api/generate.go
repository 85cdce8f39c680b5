// Package api is the Nextvisit API client: code generated from openapi.yaml, wrapped for sign-in,
// retries of idempotent requests, pagination and typed errors.
package api

//go:generate go tool oapi-codegen -config oapi-codegen.yaml openapi.yaml
