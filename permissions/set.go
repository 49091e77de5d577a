package permissions

import "encoding/json"

// Set is the rules one session was told to remember. The zero Set is
// empty and ready to use; a Set is not safe for concurrent use (its owner,
// the session broker, holds a lock).
type Set struct {
	rules []Rule
}

// Add adds r; a rule already in the set is not added twice.
func (s *Set) Add(r Rule) {
	if r.IsZero() {
		return
	}
	for _, have := range s.rules {
		if have.String() == r.String() {
			return
		}
	}
	s.rules = append(s.rules, r)
}

// Match returns the first rule of s that allows tool with input.
func (s *Set) Match(tool string, input json.RawMessage) (Rule, bool) {
	if s == nil {
		return Rule{}, false
	}
	for _, r := range s.rules {
		if r.Matches(tool, input) {
			return r, true
		}
	}
	return Rule{}, false
}

// Rules lists the rules of s in the order they were added.
func (s *Set) Rules() []Rule {
	if s == nil {
		return nil
	}
	return append([]Rule(nil), s.rules...)
}
