package claude

import (
	"encoding/json"

	"github.com/tether-dev/tether/backends"
)

// promptContent is a prompt as the content of a stream-json user message:
// a string when it is text, else Messages API blocks with the images first
// (as the API's guide advises) and the text after them.
func promptContent(prompt []backends.Content) any {
	if !backends.HasImages(prompt) {
		return backends.PromptText(prompt)
	}
	var blocks []map[string]any
	for _, c := range prompt {
		if c.Type != backends.ContentImage {
			continue
		}
		source := map[string]any{"type": "base64", "media_type": c.MimeType, "data": c.Data}
		if c.Data == "" {
			source = map[string]any{"type": "url", "url": c.URI}
		}
		blocks = append(blocks, map[string]any{"type": "image", "source": source})
	}
	if text := backends.PromptText(prompt); text != "" {
		blocks = append(blocks, map[string]any{"type": "text", "text": text})
	}
	return blocks
}

// mcpConfig is the --mcp-config value for the session's MCP servers: the
// JSON the CLI reads from a .mcp.json file.
func mcpConfig(servers []backends.MCPServer) string {
	all := make(map[string]any, len(servers))
	for _, s := range servers {
		switch s.Type {
		case "http", "sse":
			all[s.Name] = map[string]any{"type": s.Type, "url": s.URL, "headers": keyValues(s.Headers)}
		default:
			args := s.Args
			if args == nil {
				args = []string{}
			}
			all[s.Name] = map[string]any{"type": "stdio", "command": s.Command, "args": args, "env": keyValues(s.Env)}
		}
	}
	b, _ := json.Marshal(map[string]any{"mcpServers": all}) // maps of strings always encode
	return string(b)
}

func keyValues(kvs []backends.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[kv.Name] = kv.Value
	}
	return m
}
