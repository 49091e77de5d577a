package acpagent

import (
	"fmt"

	schema "github.com/coder/acp-go-sdk"

	"github.com/tether-dev/tether/backends"
)

// The prompt's content blocks as ACP writes them. They are encoded from
// these plain structs rather than the schema's union type, which
// marshals each block twice through a map.
type (
	textBlock struct {
		Type string `json:"type"` // "text"
		Text string `json:"text"`
	}
	imageBlock struct {
		Type     string `json:"type"` // "image"
		Data     string `json:"data"`
		MimeType string `json:"mimeType"`
		URI      string `json:"uri,omitempty"`
	}
	linkBlock struct {
		Type     string `json:"type"` // "resource_link"
		URI      string `json:"uri"`
		Name     string `json:"name"`
		MimeType string `json:"mimeType,omitempty"`
	}
	resourceBlock struct {
		Type     string       `json:"type"` // "resource"
		Resource textResource `json:"resource"`
	}
	textResource struct {
		URI      string `json:"uri"`
		Text     string `json:"text"`
		MimeType string `json:"mimeType,omitempty"`
	}
)

// promptParams is session/prompt's params.
type promptParams struct {
	SessionID string `json:"sessionId"`
	Prompt    []any  `json:"prompt"`
}

// promptBlocks turns a turn's prompt into ACP content blocks, within what
// the agent takes: images only when it says so (else ErrUnsupported);
// embedded resources as they are when it takes embedded context, else as
// text (a link, and the content in a context block, as PromptText writes
// them). Text and resource links every ACP agent takes.
func promptBlocks(prompt []backends.Content, caps schema.PromptCapabilities, agent string) ([]any, error) {
	out := make([]any, 0, len(prompt))
	for _, c := range prompt {
		switch c.Type {
		case backends.ContentText:
			out = append(out, textBlock{Type: "text", Text: c.Text})
		case backends.ContentImage:
			if !caps.Image {
				return nil, fmt.Errorf("%w: %s does not take images (its promptCapabilities.image is false)", backends.ErrUnsupported, agent)
			}
			out = append(out, imageBlock{Type: "image", Data: c.Data, MimeType: c.MimeType, URI: c.URI})
		case backends.ContentResourceLink:
			name := c.Name
			if name == "" {
				name = c.URI
			}
			out = append(out, linkBlock{Type: "resource_link", URI: c.URI, Name: name, MimeType: c.MimeType})
		case backends.ContentResource:
			if caps.EmbeddedContext {
				out = append(out, resourceBlock{Type: "resource", Resource: textResource{URI: c.URI, Text: c.Text, MimeType: c.MimeType}})
				continue
			}
			out = append(out, textBlock{Type: "text", Text: backends.PromptText([]backends.Content{c})})
		default:
			return nil, fmt.Errorf("%w: %s content in a prompt", backends.ErrUnsupported, c.Type)
		}
	}
	return out, nil
}

// mcpServers turns the session's MCP servers into ACP's, within what the
// agent takes: stdio always (every ACP agent must), http and sse when its
// mcpCapabilities say so.
func mcpServers(list []backends.MCPServer, caps schema.McpCapabilities, agent string) ([]schema.McpServer, error) {
	out := make([]schema.McpServer, 0, len(list))
	for _, m := range list {
		switch m.Type {
		case "", "stdio":
			s := &schema.McpServerStdio{Name: m.Name, Command: m.Command, Args: m.Args, Env: []schema.EnvVariable{}}
			if s.Args == nil {
				s.Args = []string{}
			}
			for _, e := range m.Env {
				s.Env = append(s.Env, schema.EnvVariable{Name: e.Name, Value: e.Value})
			}
			out = append(out, schema.McpServer{Stdio: s})
		case "http":
			if !caps.Http {
				return nil, fmt.Errorf("%w: %s does not take http MCP servers (%s)", backends.ErrUnsupported, agent, m.Name)
			}
			out = append(out, schema.McpServer{Http: &schema.McpServerHttpInline{Type: "http", Name: m.Name, Url: m.URL, Headers: headers(m.Headers)}})
		case "sse":
			if !caps.Sse {
				return nil, fmt.Errorf("%w: %s does not take sse MCP servers (%s)", backends.ErrUnsupported, agent, m.Name)
			}
			out = append(out, schema.McpServer{Sse: &schema.McpServerSseInline{Type: "sse", Name: m.Name, Url: m.URL, Headers: headers(m.Headers)}})
		default:
			return nil, fmt.Errorf("%w: MCP server %s of type %q", backends.ErrUnsupported, m.Name, m.Type)
		}
	}
	return out, nil
}

func headers(list []backends.KeyValue) []schema.HttpHeader {
	out := []schema.HttpHeader{}
	for _, h := range list {
		out = append(out, schema.HttpHeader{Name: h.Name, Value: h.Value})
	}
	return out
}
