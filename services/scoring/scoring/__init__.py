"""LeadLoop scoring: versioned, explainable lead scores, grades and MQL decisions."""
