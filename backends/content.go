package backends

import (
	"fmt"
	"strings"
)

// Content block types of a prompt.
const (
	ContentText         = "text"
	ContentImage        = "image"
	ContentResourceLink = "resource_link"
	ContentResource     = "resource"
)

// Content is one block of a prompt: text, an image, a link to a resource,
// or a resource's content embedded.
type Content struct {
	Type string
	// Text is the text of a text block, and the content of an embedded
	// text resource.
	Text string
	// Data is an image's bytes, base64-encoded as the wire carries them.
	Data     string
	MimeType string
	// URI and Name identify a resource (link or embedded); an image may
	// have a URI instead of data.
	URI  string
	Name string
}

// TextPrompt is a prompt of one text block.
func TextPrompt(text string) []Content {
	return []Content{{Type: ContentText, Text: text}}
}

// HasImages reports whether the prompt carries an image.
func HasImages(prompt []Content) bool {
	for _, c := range prompt {
		if c.Type == ContentImage {
			return true
		}
	}
	return false
}

// PromptText renders a prompt as the text an agent reads: text blocks as
// they are; a resource link as a Markdown link "[@name](uri)"; an embedded
// text resource as its link, with its content in a context block after the
// prompt (the way claude-agent-acp shows them to Claude); images are left
// out (backends that take images send them separately).
func PromptText(prompt []Content) string {
	if len(prompt) == 1 && prompt[0].Type == ContentText {
		return prompt[0].Text
	}
	var b, context strings.Builder
	for _, c := range prompt {
		switch c.Type {
		case ContentText:
			b.WriteString(c.Text)
		case ContentResourceLink:
			fmt.Fprintf(&b, "[@%s](%s)", linkName(c), c.URI)
		case ContentResource:
			fmt.Fprintf(&b, "[@%s](%s)", linkName(c), c.URI)
			if c.Text != "" {
				fmt.Fprintf(&context, "\n<context ref=%q>\n%s\n</context>", c.URI, c.Text)
			}
		}
	}
	if context.Len() > 0 {
		b.WriteString("\n")
		b.WriteString(context.String())
	}
	return b.String()
}

func linkName(c Content) string {
	if c.Name != "" {
		return c.Name
	}
	if i := strings.LastIndexByte(c.URI, '/'); i >= 0 && i < len(c.URI)-1 {
		return c.URI[i+1:]
	}
	return c.URI
}
