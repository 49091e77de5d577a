package acp

import (
	"encoding/json"
	"errors"
	"fmt"

	schema "github.com/coder/acp-go-sdk"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/sessions"
)

// promptContent turns a prompt's content blocks into the backends'. Each
// block is decoded on its own, by its type (the schema's union type takes
// any object for text), so an error names the block at fault. Audio is
// refused (Tether advertises none); an embedded binary resource is passed
// as a link to it, its bytes left out.
func promptContent(blocks []json.RawMessage) ([]backends.Content, error) {
	if len(blocks) == 0 {
		return nil, &sessions.ParamError{Field: "prompt", Reason: "needs at least one content block"}
	}
	out := make([]backends.Content, 0, len(blocks))
	for i, raw := range blocks {
		c, err := contentBlock(raw)
		if err != nil {
			var pe *sessions.ParamError
			if errors.As(err, &pe) {
				return nil, &sessions.ParamError{Field: fmt.Sprintf("prompt[%d]", i), Reason: pe.Reason}
			}
			return nil, fmt.Errorf("prompt[%d]: %w", i, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// contentBlock decodes one content block.
func contentBlock(raw json.RawMessage) (backends.Content, error) {
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return backends.Content{}, &sessions.ParamError{Reason: "not a content block: " + err.Error()}
	}
	bad := func(err error) (backends.Content, error) {
		return backends.Content{}, &sessions.ParamError{Reason: "a bad " + head.Type + " block: " + err.Error()}
	}
	switch head.Type {
	case "text":
		var b schema.ContentBlockText
		if err := json.Unmarshal(raw, &b); err != nil {
			return bad(err)
		}
		return backends.Content{Type: backends.ContentText, Text: b.Text}, nil
	case "image":
		var b schema.ContentBlockImage
		if err := json.Unmarshal(raw, &b); err != nil {
			return bad(err)
		}
		c := backends.Content{Type: backends.ContentImage, Data: b.Data, MimeType: b.MimeType}
		if b.Uri != nil {
			c.URI = *b.Uri
		}
		if c.Data == "" && c.URI == "" || c.MimeType == "" {
			return backends.Content{}, &sessions.ParamError{Reason: "an image needs a mimeType, and data or a uri"}
		}
		return c, nil
	case "resource_link":
		var b schema.ContentBlockResourceLink
		if err := json.Unmarshal(raw, &b); err != nil {
			return bad(err)
		}
		if b.Uri == "" {
			return backends.Content{}, &sessions.ParamError{Reason: "a resource_link needs a uri"}
		}
		return backends.Content{Type: backends.ContentResourceLink, URI: b.Uri, Name: b.Name}, nil
	case "resource":
		var b schema.ContentBlockResource
		if err := json.Unmarshal(raw, &b); err != nil {
			return bad(err)
		}
		if r := b.Resource.TextResourceContents; r != nil {
			c := backends.Content{Type: backends.ContentResource, URI: r.Uri, Text: r.Text}
			if r.MimeType != nil {
				c.MimeType = *r.MimeType
			}
			return c, nil
		}
		if r := b.Resource.BlobResourceContents; r != nil {
			return backends.Content{Type: backends.ContentResourceLink, URI: r.Uri}, nil
		}
		return backends.Content{}, &sessions.ParamError{Reason: "a resource needs text or a blob"}
	case "audio":
		return backends.Content{}, fmt.Errorf("%w: audio prompts (Tether advertises promptCapabilities.audio false)", backends.ErrUnsupported)
	}
	return backends.Content{}, &sessions.ParamError{Reason: fmt.Sprintf("unknown content block type %q (want text, image, resource_link or resource)", head.Type)}
}

// mcpServers turns session/new's MCP servers into the backends'.
func mcpServers(list []schema.McpServer) ([]backends.MCPServer, error) {
	var out []backends.MCPServer
	for i, m := range list {
		switch {
		case m.Stdio != nil:
			s := backends.MCPServer{Name: m.Stdio.Name, Type: "stdio", Command: m.Stdio.Command, Args: m.Stdio.Args}
			for _, e := range m.Stdio.Env {
				s.Env = append(s.Env, backends.KeyValue{Name: e.Name, Value: e.Value})
			}
			out = append(out, s)
		case m.Http != nil:
			out = append(out, backends.MCPServer{Name: m.Http.Name, Type: "http", URL: m.Http.Url, Headers: headers(m.Http.Headers)})
		case m.Sse != nil:
			out = append(out, backends.MCPServer{Name: m.Sse.Name, Type: "sse", URL: m.Sse.Url, Headers: headers(m.Sse.Headers)})
		default:
			return nil, &sessions.ParamError{Field: fmt.Sprintf("mcpServers[%d]", i), Reason: "unsupported MCP transport (Tether takes stdio, http and sse)"}
		}
	}
	return out, nil
}

func headers(hs []schema.HttpHeader) []backends.KeyValue {
	var out []backends.KeyValue
	for _, h := range hs {
		out = append(out, backends.KeyValue{Name: h.Name, Value: h.Value})
	}
	return out
}
