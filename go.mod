module github.com/tether-dev/tether

go 1.26

require (
	github.com/google/uuid v1.6.0
	github.com/sourcegraph/jsonrpc2 v0.2.3
)
